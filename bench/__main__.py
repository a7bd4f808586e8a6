"""`python -m bench`: run the suite."""

from bench.run import main

raise SystemExit(main())
