
# --- Enclave (appended by images/setup/enclave-files.sh) ---
# Python, not a jupyter_server_config.d/*.json file: JupyterLab reads its LabApp
# settings only from here. Appended, so a base image's own settings stay.

# An enclave has no network: no update checks, no news, no extension installs.
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.news_url = None
c.LabApp.extension_manager = "readonly"
# Landing page, unless the hub sets one (c.Spawner.default_url wins over this); the file browser
# opens in the shared workspace.
c.LabApp.default_url = "/lab/tree/WELCOME.md?file-browser-path=/work"
# Terminals get the notebooks' environment (the enclave's Python first on PATH, pip's refusal): a
# login shell would reset PATH from /etc/profile.
c.ServerApp.terminado_settings = {"shell_command": ["/bin/bash"]}
# Deleting deletes: a trash folder in the tmpfs home would vanish anyway.
c.FileContentsManager.delete_to_trash = False
