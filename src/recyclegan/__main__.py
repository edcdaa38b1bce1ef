from recyclegan.cli import main

raise SystemExit(main())
