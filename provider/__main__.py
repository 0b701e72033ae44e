"""Hosts the apim-lastmile components for every Pulumi language (see apim_lastmile.package)."""

from apim_lastmile.package import main

if __name__ == "__main__":
    main()
