"""Pure market code: the LMSR market maker, exact money, scoring.

Nothing here imports Flask, a session or the models: every function takes
plain values and returns plain values.
"""
