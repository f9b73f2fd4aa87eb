#!/usr/bin/env bash
# Step 3 of Dockerfile.notebook, as root: Enclave's helpers (Python module and R
# package), kernels, Jupyter configuration, and the package-install lock-down.
set -euo pipefail
setup=/tmp/enclave-setup
prefix=/opt/enclave-venv
python="$prefix/bin/python"
site="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

echo "enclave: texts in /etc/enclave, start script"
install -d /etc/enclave
install -m 0644 "$setup/etc/WELCOME.md" "$setup/etc/NO_PACKAGE_INSTALL.txt" /etc/enclave/
install -m 0755 "$setup/bin/enclave-start" /usr/local/bin/enclave-start
install -m 0755 "$setup/bin/enclave-export" /usr/local/bin/enclave-export
install -m 0755 "$setup/bin/enclave-package" /usr/local/bin/enclave-package

echo "enclave: Python modules enclave_data, enclave_export, enclave_package, enclave_no_install, enclave_unavailable_kernel"
install -m 0644 "$setup"/python/enclave_*.py "$site/"
"$python" -m compileall -q "$site"/enclave_*.py
# Approved packages are installed by the researcher into the home (enclave_package.TARGET): on the
# path of every kernel, once the folder exists (enclave-start makes it).
echo "/home/jovyan/.local/enclave-packages" >"$site/enclave-packages.pth"

echo "enclave: R package 'enclave' (read_extract, export_submit, install.packages message), attached at start"
r_site_library="$(Rscript -e 'cat(.libPaths()[1])')"
R CMD INSTALL --no-docs --no-multiarch --library="$r_site_library" "$setup/r/enclave" >/dev/null
cat "$setup/etc/Rprofile.site" >>"$(R RHOME)/etc/Rprofile.site"

echo "enclave: Jupyter and IPython configuration"
# Appended: a base image's own configuration (Docker Stacks has one) stays.
install -d /etc/jupyter /etc/ipython
cat "$setup/etc/jupyter_server_config.py" >>/etc/jupyter/jupyter_server_config.py
cat "$setup/etc/ipython_kernel_config.py" >>/etc/ipython/ipython_kernel_config.py
"$python" - "$setup/etc/lab-overrides.json" "$prefix/share/jupyter/lab/settings/overrides.json" <<'PY'
import json, pathlib, sys
ours, target = json.loads(pathlib.Path(sys.argv[1]).read_text()), pathlib.Path(sys.argv[2])
merged = json.loads(target.read_text()) if target.exists() else {}
merged.update(ours)
target.parent.mkdir(parents=True, exist_ok=True)
target.write_text(json.dumps(merged, indent=2) + "\n")
PY

echo "enclave: JupyterLab extension enclave-lab-export (Submit for export), prebuilt on the host"
labextensions="$prefix/share/jupyter/labextensions"
install -d "$labextensions"
cp -r "$setup/labextensions/enclave-lab-export" "$labextensions/"
chmod -R a+rX "$labextensions/enclave-lab-export"

# jupyterlab-git's Clone dialog reads its "Download the repository" box the wrong way round: unticked
# (the default) asks the server for a download, a shallow clone whose .git is then deleted, so a
# clone "succeeds" and leaves a folder that is no repository (an empty one for a new project).
# Read the box as its label says (upstream: jupyterlab/jupyterlab-git issue 1529, open). An upgrade
# where that code changed fails here, to be looked at again.
"$python" - "$prefix/share/jupyter/labextensions/@jupyterlab/git/static" <<'PY'
import pathlib, sys
wrong = 'versioning:!!this.node.querySelector("#download").checked'
right = 'versioning:!this.node.querySelector("#download").checked'
files = [f for f in pathlib.Path(sys.argv[1]).glob("*.js") if wrong in f.read_text() or right in f.read_text()]
if not files:
    sys.exit("enclave-files.sh: jupyterlab-git's clone dialog has changed: check its 'Download the repository' box "
             "(versioning) and update the fix in images/setup/enclave-files.sh")
for f in files:
    f.write_text(f.read_text().replace(wrong, right))
    print(f"enclave: jupyterlab-git's clone dialog: 'Download the repository' unticked now clones ({f.name})")
PY

# Nothing to download: the menus do not offer what the seal would refuse (Download, Export, news).
install -D -m 0644 "$setup/etc/page_config.json" "$prefix/etc/jupyter/labconfig/page_config.json"

echo "enclave: kernels"
"$prefix/bin/jupyter" kernelspec install --replace --name ir "$(Rscript -e 'cat(system.file("kernelspec", package = "IRkernel"))')" >/dev/null
if "$prefix/bin/jupyter" kernelspec list | grep -q '^ *julia'; then
    echo "enclave: a Julia kernel is in the image: it is kept"
else
    kernel="$setup/kernels/julia-not-in-this-build"
    sed -i "s|@PYTHON@|$python|" "$kernel/kernel.json"
    if command -v julia >/dev/null; then
        # Julia without IJulia (JULIA_TARBALL without JULIA_DEPOT): the entry says where Julia is.
        "$python" - "$kernel/kernel.json" <<'PY'
import json, pathlib, sys
path = pathlib.Path(sys.argv[1])
spec = json.loads(path.read_text())
spec["env"]["ENCLAVE_UNAVAILABLE_NOTE"] = (
    "Julia itself is in this image: open a Terminal and run `julia` (read_extract(\"NAME\") reads an"
    " extract there). Its Jupyter kernel, IJulia, comes from Julia's package registry: ops can add it"
    " with JULIA_DEPOT=<a depot where IJulia was added> scripts/build_images.sh.")
path.write_text(json.dumps(spec, indent=1) + "\n")
PY
    fi
    "$prefix/bin/jupyter" kernelspec install --replace --name julia-not-in-this-build "$kernel" >/dev/null
fi

echo "enclave: packages from the project's index only (pip), none for conda and R"
install -m 0644 "$setup/etc/pip.conf" /etc/pip.conf
for pip in "$prefix"/bin/pip "$prefix"/bin/pip3 "$prefix"/bin/pip3.*; do
    [ -e "$pip" ] || continue
    sed "s|@PYTHON@|$python|" "$setup/bin/pip" >"$pip"
    chmod 0755 "$pip"
done
if [ -x /opt/conda/bin/conda ]; then
    /opt/conda/bin/conda config --system --set offline true
fi

# The home is a tmpfs at run time; this copy is only seen without one. Swarm's tmpfs mounts take
# their mode from the image's directory (and no owner): 1777 lets uid 1000 write its tmpfs home there
# (the root filesystem itself stays read-only; the Docker backend sets uid=1000,mode=0700 itself).
install -d -o 1000 -g 100 -m 1777 /home/jovyan
