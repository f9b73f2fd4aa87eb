"""The shell: one header, navigation, footer, stylesheet and error page around every page of the hub
and of its services (egress gate, portal, usage).

- :mod:`.roles`: who the signed-in person is (registry roles, projects);
- :mod:`.navigation`: the links they may use, and nothing that would refuse them;
- :mod:`.web`: what a service's tornado handlers mix in to render pages and error pages in the shell,
  and the handler serving ``shell.css`` (with :mod:`enclave.branding`'s colour);
- ``templates/shell/``: the base, header, footer and error templates; the hub's own ``page.html``
  (``spawner_config/templates``) includes the same header and footer.
"""

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"
STYLESHEET = Path(__file__).resolve().parent / "shell.css"
