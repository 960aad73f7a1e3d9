"""What state seals cost on the authentication path (issue 11, finding 4).

Baselines in the same run: authentication with the seal checks switched off (what it
did before), and one principal's seal check against reading that principal. Run:
``python bench/state_seals.py [--database-url URL] [--n N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Figure, Results, best_of, load_line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL URL (default: SQLite in a temporary home)")
    parser.add_argument("--n", type=int, default=2000, help="authentications per round")
    args = parser.parse_args()

    from garrison.app import initialize
    from garrison.config import load_settings
    from garrison.governance import AccountService

    print(load_line())
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(home=Path(tmp) / "home", database_url=args.database_url)
        services, _, key = initialize(settings, "root")
        try:
            accounts = services.accounts

            def authenticate() -> int:
                for _ in range(args.n):
                    accounts.authenticate(key.secret, audit=False)
                return args.n

            sealed = best_of(authenticate)
            checked = AccountService.ensure_backed
            AccountService.ensure_backed = lambda self, tx, p, k=None: None  # type: ignore
            try:
                unsealed = best_of(authenticate)
            finally:
                AccountService.ensure_backed = checked  # type: ignore[method-assign]

            results = Results(unit="auth/s")
            results.add(Figure("authenticate, seals checked", sealed,
                               "seal checks off (before)", unsealed))
            seals = services.guard.seals
            admin = services.accounts.get("root")

            def check_only() -> int:
                with services.store.read() as tx:
                    for _ in range(args.n):
                        seals.check_principal(tx.seals, admin)
                return args.n

            def read_only() -> int:
                with services.store.read() as tx:
                    for _ in range(args.n):
                        tx.principals.get(admin.id)
                return args.n

            results.add(Figure("principal seal check alone", best_of(check_only),
                               "reading the principal", best_of(read_only)))
            print(results.table())
        finally:
            services.close()


if __name__ == "__main__":
    main()
