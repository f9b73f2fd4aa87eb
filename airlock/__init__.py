"""The import airlock: files brought into a project are held, scanned and reviewed before they appear.

A member (or ops, for a whole project) submits files with a purpose; each file is scanned in a
bounded worker (:mod:`airlock.scan`); stewards approve or reject with the same N independent
votes as egress requests; an approved import is published read-only at ``~/imports`` in the
project's servers (:mod:`airlock.publish`). States change only in :mod:`airlock.workflow`.
"""
