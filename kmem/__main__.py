import sys

from kmem.cli import main

sys.exit(main())
