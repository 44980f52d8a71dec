"""The pure numerical layer: JAX, NumPy and SciPy only, no scikit-learn.

- :mod:`.attacks`: norms, losses and the budgeted attack cores (FGSM, PGD,
  AutoPGD); :mod:`.minimal`: the minimal-distance ones (Carlini-Wagner L2,
  DeepFool); :mod:`.plan`: one attack as data (what transform and training run).
- :mod:`.query`: the black-box cores (Square, HopSkipJump).
- :mod:`.trees`: tree-ensemble geometry, the exact MILP and the greedy walk.
- :mod:`.train`: the one training loop and its objectives.

The scikit-learn classes above this layer validate, convert and call these
functions; a test checks that nothing here imports scikit-learn.
"""
