"""`python -m devstack.demo_token --user admin`: an access token from the local OIDC provider
for one of the demo realm's users (what `make token USER=admin` runs)."""

import argparse
import sys

from devstack.errors import StackError
from devstack.oidc import DEMO_USERS, password_grant
from devstack.profiles import PROFILES, get_profile


def main(argv: list[str] | None = None) -> int:
    """`python -m devstack.demo_token --user admin [--profile dev]`: prints an access token."""
    parser = argparse.ArgumentParser(prog="python -m devstack.demo_token", description=main.__doc__)
    parser.add_argument("--user", default="customer")
    parser.add_argument("--profile", choices=tuple(PROFILES), default="dev")
    args = parser.parse_args(argv)
    if args.user not in DEMO_USERS:
        sys.stderr.write(
            f"unknown demo user {args.user!r}; use USER={', USER='.join(DEMO_USERS)}\n"
        )
        return 2
    issuer = get_profile(args.profile).oidc_issuer
    try:
        print(password_grant(issuer, args.user))
    except StackError as exc:
        sys.stderr.write(f"devstack: FAILED {exc.render()}\n")
        return 1
    except Exception as exc:
        sys.stderr.write(
            f"devstack: no token from {issuer} ({type(exc).__name__}: {exc}); "
            "is the stack up (`make dev`)?\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
