"""The web console: server-rendered pages for the people who govern models.

``create_console(services)`` builds it; ``create_web_app`` mounts it at ``/console``
next to the admin API, so ``garrison admin-serve`` serves both. The pages are views
over the same services as the CLI and the admin API.
"""

from garrison.web.console.app import CONSOLE_HEADERS, create_console
from garrison.web.console.context import NAV, ConsoleServices

__all__ = ["CONSOLE_HEADERS", "NAV", "ConsoleServices", "create_console"]
