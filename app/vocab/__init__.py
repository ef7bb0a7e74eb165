"""Fineline's vocabularies, one definition each: the states of every lifecycle, roles, consent
sources, sender kinds. Leaf modules: they import nothing from ``app`` but each other, so any layer
(models, schemas, services, dispatch, webhooks) may use them. Values are StrEnums: a member is its
string, so it goes into a column, a JSON body or a comparison unchanged."""
