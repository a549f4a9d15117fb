"""The policy pages (`/policies/…`): the ordered list of rules every signed-in user may read
(an agent's person needs to see why a job was refused or held); adding, editing, moving up or
down and deleting a rule, which need the "manage policies" permission (Admins).

The checks and the audit events are jobs.policy.edit's (create_policy, update_policy,
delete_policy), as on every surface; the form is web/forms/policies.py. Deleting asks first:
a POST without `confirm=yes` answers with the confirmation page."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from jobs.models import Decision, Policy
from jobs.policy.edit import PolicyInputError, create_policy, delete_policy, update_policy
from servers.permissions import Action, may
from web.decorators import permission_required
from web.forms.policies import PolicyForm, duration_text

VIA = "web"


@permission_required(Action.VIEW)
def policy_list(request):
    policies = list(Policy.objects.all())
    for number, policy in enumerate(policies, start=1):
        policy.number = number
        policy.expires_text = duration_text(policy.expires_in)
    context = {
        "nav": "policies",
        "policies": policies,
        "can_manage": may(request.user, Action.MANAGE_POLICIES),
        "default_decision": Decision(settings.POLICY_DEFAULT_DECISION).label.lower(),
    }
    return render(request, "policies/list.html", context)


def _list_url(policy: Policy | None = None) -> str:
    return reverse("policies:list") + (f"#policy-{policy.pk}" if policy is not None else "")


@permission_required(Action.MANAGE_POLICIES)
@require_http_methods(["GET", "POST"])
def policy_new(request):
    return _policy_form(request, policy=None)


@permission_required(Action.MANAGE_POLICIES)
@require_http_methods(["GET", "POST"])
def policy_edit(request, pk: int):
    return _policy_form(request, policy=get_object_or_404(Policy, pk=pk))


def _policy_form(request, *, policy: Policy | None):
    if request.method != "POST":
        return _render_form(request, PolicyForm(policy=policy), policy)
    form = PolicyForm(request.POST, policy=policy)
    if form.is_valid():
        try:
            if policy is None:
                saved = create_policy(values=form.values(), actor=request.user, via=VIA)
            else:
                saved = update_policy(policy=policy, values=form.values(), actor=request.user, via=VIA)
        except PolicyInputError as exc:
            form.add_service_error(str(exc))
        else:
            messages.success(request, f"{'Added' if policy is None else 'Saved'} policy {saved.name}.")
            return redirect(_list_url(saved))
    # Like the other forms of the site, the errors are shown next to their fields; nothing was saved.
    return _render_form(request, form, policy)


def _render_form(request, form: PolicyForm, policy: Policy | None):
    context = {"nav": "policies", "form": form, "policy": policy}
    return render(request, "policies/form.html", context)


@permission_required(Action.MANAGE_POLICIES)
@require_http_methods(["GET", "POST"])
def policy_delete(request, pk: int):
    policy = get_object_or_404(Policy, pk=pk)
    if request.method != "POST" or request.POST.get("confirm") != "yes":
        waiting = policy.requests.filter(outcome="").count()
        return render(
            request, "policies/confirm_delete.html", {"nav": "policies", "policy": policy, "waiting": waiting}
        )
    name = policy.name
    delete_policy(policy=policy, actor=request.user, via=VIA)
    messages.success(request, f"Deleted policy {name}.")
    return redirect("policies:list")


@permission_required(Action.MANAGE_POLICIES)
@require_POST
def policy_move(request, pk: int):
    """One place up or down the list: the rule swaps with its neighbour."""
    direction = request.POST.get("direction")
    if direction not in ("up", "down"):
        messages.error(request, "Move a policy up or down.")
        return redirect("policies:list")
    policy = get_object_or_404(Policy, pk=pk)
    try:
        with transaction.atomic():
            rules = _numbered(request.user)
            index = next(i for i, rule in enumerate(rules) if rule.pk == policy.pk)
            other = index - 1 if direction == "up" else index + 1
            if not 0 <= other < len(rules):
                where = "first" if direction == "up" else "last"
                messages.info(request, f"{policy.name} is the {where} rule already.")
                return redirect(_list_url(policy))
            earlier, later = sorted((rules[index], rules[other]), key=lambda rule: rule.position)
            # The later rule takes the earlier one's place; update_policy moves that one (and
            # the rest) down by one.
            update_policy(policy=later, values={"position": earlier.position}, actor=request.user, via=VIA)
    except PolicyInputError as exc:  # a stored rule no longer passes the checks (its group was deleted)
        messages.error(request, f"Could not move {policy.name}: {exc} Edit that rule first.")
        return redirect(_list_url(policy))
    place = other + 1
    messages.success(request, f"Moved {policy.name} {direction}: it is rule {place} of {len(rules)} now.")
    return redirect(_list_url(policy))


def _numbered(actor) -> list[Policy]:
    """The rules in order, each at its own position: rules sharing one (added in the admin, say)
    are given distinct positions first, in the order they already have, so a swap is one move."""
    rules = list(Policy.objects.order_by("position", "id"))
    if len({rule.position for rule in rules}) == len(rules):
        return rules
    for number, rule in enumerate(rules, start=1):  # each later rule is re-placed after it
        rule.refresh_from_db(fields=["position"])  # moved by the re-placing before it
        if rule.position != number * 10:
            update_policy(policy=rule, values={"position": number * 10}, actor=actor, via=VIA)
    return list(Policy.objects.order_by("position", "id"))
