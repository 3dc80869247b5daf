"""ImageNet's per-channel pixel statistics (torchvision's, over the training set, in [0, 1] RGB).

The paper's models normalise their inputs with them (``amx.zoo``); methods and metrics that need
a neutral image use the mean colour (Integrated Gradients' baseline, the "mean" substrate of
Insertion and Deletion). Here, not in the zoo, so that methods and metrics import no model code.
"""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
