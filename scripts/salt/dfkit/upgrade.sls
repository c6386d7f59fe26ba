{#-
  df-upgrade on this minion: `salt-call state.apply dfkit.upgrade`, or for a rolling
  upgrade of web nodes, one at a time: `salt -b 1 'web*' state.apply dfkit.upgrade`.

  Pillar `dfkit` (besides bin_dir, root, env; see macros.jinja):
    upgrade_args: extra df-upgrade arguments, e.g. ['--ref', '7.7.0', '--user', 'www-data']
    no_migrate:   True on every node but one when the nodes share one database
-#}
{%- from 'dfkit/macros.jinja' import dfkit_tool with context %}
{%- set dfkit = salt['pillar.get']('dfkit', {}) %}
{%- set args = dfkit.get('upgrade_args', []) + (['--no-migrate'] if dfkit.get('no_migrate') else []) %}
{{ dfkit_tool('dfkit-upgrade', 'df-upgrade', args) }}
