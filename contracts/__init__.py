"""The ground floor: what every room of Pluginops agrees on and nothing else.

Metric, span and label names (`catalogue`), the error base and its codes (`errors`), the state
folder's layout (`layout`), the version (`version`), and the one way files are written durably
(`files`). It imports no other package of the project; every other package may import it
(`tests/test_layers.py` holds both rules).
"""
