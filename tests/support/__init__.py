"""What the tests share: settings and configurations, hosts, processes, apps, assertions.

Test modules import from here (and take fixtures from the ``conftest.py`` files), never
from one another.
"""
