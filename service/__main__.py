"""``python -m service``: the same as the ``spot-sso`` command."""

from service.cli import main

raise SystemExit(main())
