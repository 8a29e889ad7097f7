from image.build import main

raise SystemExit(main())
