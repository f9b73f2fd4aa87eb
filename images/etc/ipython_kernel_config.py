
# Enclave: %pip install takes only the packages approved for the project (its index) and says how
# to ask for the others; %conda install explains that conda has no index here.
c.InteractiveShellApp.extensions.append("enclave_no_install")
