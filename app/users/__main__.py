from app.accounts.cli import main

raise SystemExit(main())
