"""The tools around the library: the ``lastmile`` command (plan, diff, verify, permissions), the stack config and its
strict loader, the offline plan and its mocks, Azure's contract and the API versions we send, and the component
package. They import the library; the library never imports them (tests/test_layout.py)."""
