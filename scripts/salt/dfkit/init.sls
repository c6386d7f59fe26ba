include:
  - dfkit.upgrade
