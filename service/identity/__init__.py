"""Identity adapters: where spot-sso learns who a user is.

``base`` holds the interface, one module per backend sits beside it (``static``,
``http``), ``factory.build_adapter`` picks one from the settings.
"""
