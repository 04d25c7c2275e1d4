import sys

from orderopt.cli import main

sys.exit(main())
