"""Hosts other than this one: a lab's Ansible inventory and checked OpenSSH connections."""
