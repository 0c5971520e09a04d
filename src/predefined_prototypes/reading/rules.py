"""The thresholds the verdicts' rules read, each declared once.

Claim 1's margin, its alpha and the floors were fixed before any comparison they judge was read.
The Claim 2 margins and the convergence margin came with the four-outcome criteria, after
EmoDB's and FSDD's numbers had been read and before any RAVDESS run; ``claims`` says so beside
every outcome they decide.
"""

ALPHA = 0.05  # family-wise error rate of each verdict's comparisons (Bonferroni over the family)
ACCURACY_MARGIN = 0.02  # Claim 1: two methods within ±2 accuracy points are equivalent
PROBE_MARGIN = 0.05  # Claim 2, probe criteria: within ±5 balanced-accuracy points is no effect
SHIFT_MARGIN = 0.25  # Claim 2, edit criteria: within ±0.25 factor levels is no effect
EPOCH_MARGIN = 1.0  # Claim 1b: reaching the convergence threshold within ±1 epoch is the same speed
TRAINING_FLOOR = 0.97  # every run a verdict reads reaches this training accuracy
FIT_FLOOR = 0.9  # the prototypes are reached: training nearest-prototype accuracy at least this
CONVERGED = 0.95  # Claim 1b counts the epochs to this training accuracy
PATH_MARGIN = 0.01  # a faster computation path is used only if its fold-paired 95 % interval sits within ±1 point
PATH_SPEEDUP = 1.5  # ... and only if it trains a real sweep's runs at least this much faster
NOVEL_SHOTS = 5  # the novel-classes answer reads this many support clips per new class
