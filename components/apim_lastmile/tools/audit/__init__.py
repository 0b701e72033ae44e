"""``lastmile audit``: every credential an existing gateway's policies send on their last mile, and the passwordless
way out (:mod:`.inputs` reads the gateway, :mod:`.detector` finds the credentials, :mod:`.report` shows them)."""
