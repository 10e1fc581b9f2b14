"""The playbook's judgements for people and agents: evidence, checklist, advise, report, export."""
