"""Tools around the service, run by hand: the benchmarks and the local Twilio double.

A package so that the tests import the one Twilio double the benchmarks run
(``from scripts import fake_twilio``) without touching ``sys.path``.
"""
