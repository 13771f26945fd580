import sys

from baconalgo.cli import main

sys.exit(main())
