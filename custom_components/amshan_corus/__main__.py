"""Entry point of `python -m custom_components.amshan_corus`."""

import sys

from .cli import main

sys.exit(main())
