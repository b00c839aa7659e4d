import sys

from offline.demo.cli import main

sys.exit(main())
