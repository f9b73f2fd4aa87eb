"""Usage metering and billing per project: what each project's containers and storage used,
priced by a versioned tariff, shown to the team and invoiced.

- :mod:`metering.cgroups` reads a container's cumulative counters from the kernel's cgroup files;
- :mod:`metering.sampler` turns successive readings into usage per project, member and day in the
  registry (:mod:`metering.models`), and measures storage once an hour;
- :mod:`metering.report` sums a month; :mod:`metering.tariff` prices it; :mod:`metering.invoice`
  writes the invoice; :mod:`metering.service` is the hub service that samples and serves the pages.
"""
