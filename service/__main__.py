"""``python -m service``: the same as the ``spot-sso`` command."""

from service.cli.main import main

raise SystemExit(main())
