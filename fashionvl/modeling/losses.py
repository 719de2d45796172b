"""Loss functions shared by the fashionvl models.

Losses live here, not inside the models (as in open_clip's ``loss.py``), so that each equation has one
home, one test, and can be reused by the training code. Each block is owned by one model family.
"""

import torch
import torch.nn.functional as F

# >>> MVLT losses
# <<< MVLT losses

# >>> mFSR losses
# <<< mFSR losses

# >>> M2Fashion losses
# <<< M2Fashion losses
