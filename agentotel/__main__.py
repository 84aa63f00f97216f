from agentotel.cli import main

raise SystemExit(main())
