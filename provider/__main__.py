"""Hosts the apim-lastmile components for every Pulumi language (see apim_lastmile.tools.package)."""

from apim_lastmile.tools.package import main

if __name__ == "__main__":
    main()
