"""Test settings: the real settings with a throwaway data directory."""

import os
import tempfile

os.environ.setdefault("LIVCHAT_DATA_DIR", tempfile.mkdtemp(prefix="livchat-test-"))

from livchat.settings import *  # noqa: E402,F403
