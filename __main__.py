from memgym.cli import main

raise SystemExit(main())
