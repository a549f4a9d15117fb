"""Where webhooks may go (automation/webhook_guard.py) and how they are signed, end to end: real
HTTP(S) receivers on loopback, real deliveries, the API refusing an IP at save time.

Loopback is refused by default, so these receivers are only reached when a test allows a network
the way an operator would (NOTIFY_WEBHOOK_ALLOWED_NETWORKS). Name lookups for made-up names
(`*.test`) are answered by replacing socket.getaddrinfo, the resolver everything asks."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import socket
import ssl
import time

import pytest
from django_q.models import Schedule

from automation.launch import launch_template
from automation.models import DeliveryAttempt, JobTemplate
from automation.notify import deliver_webhook
from automation.services import save_template
from tests.api_helpers import assert_error, token_api
from tests.helpers import make_user
from tests.webhook_receiver import SECRET, TOLERANCE, Receiver, verify

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def nothing_allowed(settings):
    """The default, whatever the environment running the tests says."""
    settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS = []
    return settings


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def finished_job(server, run_job):
    """A finished job of a template with a webhook; `hook(url)` points the template at `url` the
    way a row saved before the address rule (or before the allow-list shrank) would."""
    template = save_template(
        name="hook",
        kind="command",
        command="echo done",
        servers=[server.name],
        notify_on="always",
        webhook_url="https://hooks.example.com/livchat",
        webhook_secret=SECRET,
    )
    job = run_job(launch_template(template=template, values={}))

    def hook(url: str) -> None:
        JobTemplate.objects.filter(pk=template.pk).update(webhook_url=url)

    job.hook = hook
    return job


def last_attempt() -> DeliveryAttempt:
    return DeliveryAttempt.objects.order_by("-id").first()


@pytest.fixture
def resolver(monkeypatch):
    """Made-up names: `answers[name]` is a list of address lists, one per lookup (the last one
    repeats); every lookup of such a name is counted in `lookups`. Other hosts resolve as usual."""
    real = socket.getaddrinfo
    answers: dict[str, list[list[str]]] = {}
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        ips = answers[host][min(lookups.count(host), len(answers[host])) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, int(port or 0))) for ip in ips]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


def test_loopback_is_refused_by_default_recorded_and_not_retried(finished_job, receiver):
    finished_job.hook(receiver.url)
    assert deliver_webhook(finished_job.pk) is False
    attempt = last_attempt()
    assert (attempt.ok, attempt.http_status, attempt.next_attempt_at) == (False, None, None)
    assert attempt.error.startswith("Refused: 127.0.0.1 is a loopback address"), attempt.error
    assert "LIVCHAT_WEBHOOK_ALLOWED_NETWORKS" in attempt.error and attempt.target == receiver.url
    assert not Schedule.objects.filter(name__startswith="livchat-webhook-").exists()  # no retry
    assert receiver.requests == []


def test_metadata_private_and_other_internal_addresses_are_refused(finished_job, receiver, settings):
    settings.NOTIFY_WEBHOOK_TIMEOUT = 3  # bounded, should one of them ever be tried
    port = receiver.port  # the spellings that reach this loopback receiver must not
    expected = {
        "http://169.254.169.254/latest/meta-data/": "169.254.169.254 is a link-local address",
        "http://10.1.2.3/hook": "10.1.2.3 is a private address",
        "http://192.168.0.10/hook": "192.168.0.10 is a private address",
        "http://100.64.0.1/hook": "100.64.0.1 is a shared (CGNAT) address",
        "http://224.0.0.1/hook": "224.0.0.1 is a multicast address",
        "http://[fd00::1]/hook": "fd00::1 is a unique-local address",
        "http://[fe80::1]/hook": "fe80::1 is a link-local address",
        f"http://0.0.0.0:{port}/hook": "0.0.0.0 is an unspecified address",
        f"http://[::]:{port}/hook": ":: is an unspecified address",
        f"http://[::1]:{port}/hook": "::1 is a loopback address",
        f"http://[::ffff:127.0.0.1]:{port}/hook": "::ffff:127.0.0.1 is a loopback address (it is 127.0.0.1)",
        f"http://127.1:{port}/hook": "127.1 resolves to 127.0.0.1, a loopback address",
        f"http://2130706433:{port}/hook": "2130706433 resolves to 127.0.0.1, a loopback address",
    }
    got = {}
    for url, reason in expected.items():
        finished_job.hook(url)
        deliver_webhook(finished_job.pk)
        attempt = last_attempt()
        got[url] = (attempt.ok, attempt.next_attempt_at, attempt.error.removeprefix("Refused: ")[: len(reason)])
    assert got == {url: (False, None, reason) for url, reason in expected.items()}
    assert receiver.requests == []
    assert not Schedule.objects.filter(name__startswith="livchat-webhook-").exists()


def test_a_name_is_judged_by_what_it_resolves_to(finished_job, receiver):
    finished_job.hook(f"http://localhost:{receiver.port}/hook")
    assert deliver_webhook(finished_job.pk) is False
    error = last_attempt().error
    assert error.startswith("Refused: localhost resolves to ") and "a loopback address" in error, error
    assert receiver.requests == []


def test_the_allow_list_lets_a_network_through(finished_job, receiver, settings):
    finished_job.hook(receiver.url)
    settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS = ["10.0.0.0/8", "fd00::/8"]  # not this one
    assert deliver_webhook(finished_job.pk) is False and receiver.requests == []
    settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS = ["10.0.0.0/8", "127.0.0.0/8"]
    assert deliver_webhook(finished_job.pk, 2) is True
    attempt = last_attempt()
    assert (attempt.ok, attempt.http_status, attempt.error) == (True, 200, "")
    assert [r["method"] for r in receiver.requests] == ["POST"]


def test_a_redirect_is_a_failed_delivery_and_is_not_followed(finished_job, settings):
    settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    elsewhere = Receiver()
    redirecting = Receiver(statuses=[302], location=elsewhere.url)
    try:
        finished_job.hook(redirecting.url)
        assert deliver_webhook(finished_job.pk) is False
        attempt = last_attempt()
        assert (attempt.ok, attempt.http_status) == (False, 302)
        assert "answered 302 Found: redirects are not followed" in attempt.error, attempt.error
        assert [r["method"] for r in redirecting.requests] == ["POST"]
        assert elsewhere.requests == []  # neither the POST nor a GET it would have become
    finally:
        redirecting.close()
        elsewhere.close()


def test_the_signature_covers_the_timestamp_and_the_body(finished_job, receiver, settings):
    settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    finished_job.hook(receiver.url)
    assert deliver_webhook(finished_job.pk) is True
    (request,) = receiver.requests
    timestamp, signature, body = (
        request["headers"]["X-LivChat-Timestamp"],
        request["headers"]["X-LivChat-Signature"],
        request["body"],
    )
    assert abs(time.time() - int(timestamp)) <= 5
    signed = f"{timestamp}.".encode() + body
    assert signature == "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert signature != "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    # README's receiver check: right as sent, wrong with another timestamp or secret, or too late.
    assert verify(SECRET, timestamp, signature, body)
    assert not verify(SECRET, str(int(timestamp) + 1), signature, body, now=int(timestamp))
    assert not verify("another secret", timestamp, signature, body)
    assert not verify(SECRET, timestamp, signature, body, now=int(timestamp) + TOLERANCE + 1)


def test_the_connection_goes_to_the_address_that_was_checked(finished_job, receiver, resolver, settings):
    """DNS rebinding: the name answers an allowed address once and another one afterwards; the
    POST goes to the checked one (one lookup), with the name in the Host header."""
    answers, lookups = resolver
    settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    rebound = Receiver(host="127.0.0.2", port=receiver.port)  # where a second lookup would lead
    try:
        answers["hook.rebind.test"] = [["127.0.0.1"], ["127.0.0.2"]]
        finished_job.hook(f"http://hook.rebind.test:{receiver.port}/hook")
        assert deliver_webhook(finished_job.pk) is True
        assert lookups == ["hook.rebind.test"] and rebound.requests == []
        assert receiver.requests[0]["headers"]["Host"] == f"hook.rebind.test:{receiver.port}"
    finally:
        rebound.close()


def test_every_resolved_address_is_checked(finished_job, receiver, resolver, settings):
    answers, _lookups = resolver
    settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    answers["mixed.test"] = [["127.0.0.1", "10.0.0.7"]]
    finished_job.hook(f"http://mixed.test:{receiver.port}/hook")
    assert deliver_webhook(finished_job.pk) is False
    assert last_attempt().error.startswith("Refused: mixed.test resolves to 10.0.0.7, a private address")
    assert receiver.requests == []


def _certificate_for(name: str, folder) -> tuple[str, str]:
    """A self-signed certificate for `name` (cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


def test_https_keeps_the_name_for_sni_and_the_certificate(finished_job, resolver, settings, tmp_path, monkeypatch):
    answers, _lookups = resolver
    settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    cert_file, key_file = _certificate_for("hook.tls.test", tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert_file)  # OpenSSL's trust store: this certificate only
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert_file, key_file)
    tls = Receiver(tls=served)
    try:
        answers["hook.tls.test"] = answers["other.tls.test"] = [["127.0.0.1"]]
        finished_job.hook(f"https://hook.tls.test:{tls.port}/hook")
        assert deliver_webhook(finished_job.pk) is True, last_attempt().error
        assert tls.sni == ["hook.tls.test"]
        assert tls.requests[0]["headers"]["Host"] == f"hook.tls.test:{tls.port}"
        # The same address under a name the certificate does not carry: refused by the TLS check.
        finished_job.hook(f"https://other.tls.test:{tls.port}/hook")
        assert deliver_webhook(finished_job.pk, 2) is False
        error = last_attempt().error
        assert error.startswith("Could not reach the receiver") and "certificate verify failed" in error, error
        assert len(tls.requests) == 1
    finally:
        tls.close()


def test_the_api_refuses_an_ip_webhook_url_at_save_time(server, settings):
    api = token_api(make_user("hook-admin"))

    def create(name: str, url: str):
        body = {"name": name, "command": "true", "servers": [server.name], "webhook_url": url}
        return api.post("/api/templates/", body)

    error = assert_error(create("metadata", "http://169.254.169.254/x"), 400)
    assert error.startswith("webhook_url: 169.254.169.254 is a link-local address"), error
    assert "LIVCHAT_WEBHOOK_ALLOWED_NETWORKS" in error
    assert "loopback" in assert_error(create("short-loopback", "http://127.1:8080/x"), 400)
    assert "private" in assert_error(create("mapped", "http://[::ffff:10.0.0.1]/x"), 400)
    assert not JobTemplate.objects.exists()
    # A name is judged when sending (it may not resolve here); an allowed network saves.
    assert create("by-name", "http://localhost:8080/x").status_code == 201
    settings.NOTIFY_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert create("allowed", "http://127.0.0.1:8080/x").status_code == 201
