"""`obsgen import`: other tools' SLO and rule files as an obsgen spec.

One module per source format (`sloth`, `pyrra`, `openslo`, `rules`), each reading its files into `spec_writer.Imported`;
`spec_writer` writes that as a spec (new, or merged into an existing one) with a comment on every entry
that did not map exactly, and `source` reads the files with the place of every node, for located refusals.
The format modules never import each other (`common` holds what the Pyrra and OpenSLO ones share).
`sloth_proof` renders Sloth's own rules from its documented formulas and runs them beside obsgen's through
promtool (`obsgen import sloth --prove`).
`pyrra_proof` does the same for Pyrra (`obsgen import pyrra --prove`), with `sloth_proof`'s scenarios and bound,
and `openslo_proof` for OpenSLO's AlertConditions (`obsgen import openslo --prove`); `rules_proof` runs the rule
files' own promtool tests on the original rules and on obsgen's (`obsgen import rules --prove`).
"""
