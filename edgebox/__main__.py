from edgebox.cli.main import main

raise SystemExit(main())
