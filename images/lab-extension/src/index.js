// Enclave's way out, in JupyterLab: "Submit for export" on files of ~/work (the file browser's
// context menu) and on the launcher. Both open the egress gate's new-request form, in a new tab,
// with the chosen files ticked (?project=<slug>&file=work/a.csv&file=...); the gate checks each path against the
// researcher's own files, exactly as it lists them, and names those it ignores.
const { PageConfig } = require('@jupyterlab/coreutils');
const { IFileBrowserFactory } = require('@jupyterlab/filebrowser');
const { ILauncher } = require('@jupyterlab/launcher');
const { fileUploadIcon } = require('@jupyterlab/ui-components');

const COMMAND = 'enclave:submit-for-export';
const GATE_SERVICE = 'egress'; // the gate's hub service name (jupyterhub_config.py)
const WORK = 'work/';

// /services/egress/requests/new beside the hub (/hub/ -> /services/...), whatever the hub's base URL.
function gateFormUrl(paths) {
  const hubPrefix = PageConfig.getOption('hubPrefix') || '/hub/';
  const base = PageConfig.getOption('hubHost') + hubPrefix.replace(/hub\/?$/, '');
  // The server's name is the project's slug (/user/<name>/<project>/): the gate ticks files there.
  const project = PageConfig.getOption('hubServerName');
  const query = (project ? ['project=' + encodeURIComponent(project)] : [])
    .concat(paths.map(path => 'file=' + encodeURIComponent(path)))
    .join('&');
  return base + 'services/' + GATE_SERVICE + '/requests/new' + (query ? '?' + query : '');
}

function selectedWorkFiles(factory) {
  const browser = factory.tracker.currentWidget;
  if (!browser) {
    return [];
  }
  return Array.from(browser.selectedItems())
    .filter(item => item.type !== 'directory' && item.path.startsWith(WORK))
    .map(item => item.path);
}

const plugin = {
  id: 'enclave-lab-export:plugin',
  description: 'Submit files of ~/work to the egress gate',
  autoStart: true,
  requires: [IFileBrowserFactory],
  optional: [ILauncher],
  activate: (app, factory, launcher) => {
    app.commands.addCommand(COMMAND, {
      label: 'Submit for export',
      icon: args => (args && args.origin === 'launcher' ? fileUploadIcon : undefined),
      isVisible: args => (args && args.origin === 'launcher') || selectedWorkFiles(factory).length > 0,
      caption: 'Ask the egress gate to release files of ~/work (data stewards review them)',
      execute: args => {
        const paths = args && args.origin === 'launcher' ? [] : selectedWorkFiles(factory);
        window.open(gateFormUrl(paths), '_blank');
      }
    });
    // Files only, and only under ~/work: the gate takes nothing else.
    app.contextMenu.addItem({
      command: COMMAND,
      selector: '.jp-DirListing-item[data-isdir="false"]',
      rank: 10
    });
    if (launcher) {
      launcher.add({ command: COMMAND, category: 'Other', rank: 0, args: { origin: 'launcher' } });
    }
  }
};

module.exports = plugin;
