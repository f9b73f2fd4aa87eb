
# Enclave: %pip install / %conda install explain at once why nothing can be
# installed here (no network) and how to ask for a package.
c.InteractiveShellApp.extensions.append("enclave_no_install")
