"""Loss functions shared by the fashionvl models.

Losses live here, not inside the models (as in open_clip's ``loss.py``), so that each equation has one
home, one test, and can be reused by the training code. Each block is owned by one model family.
"""

import torch
import torch.nn.functional as F

# >>> MVLT losses
def mvlt_mir_loss(reconstruction: torch.Tensor, pixel_values: torch.Tensor) -> torch.Tensor:
    """Masked image reconstruction loss of MVLT (eq. 5): smooth-L1 over all pixels, averaged.

    Args:
        reconstruction: the decoder's image I', shape `(batch, channels, height, width)`.
        pixel_values: the original, unmasked image I, same shape (normalised pixel values).

    Returns:
        Scalar: mean over every pixel and channel of 0.5 * d**2 if |d| < 1 else |d| - 0.5, with d = I' - I.
    """
    if reconstruction.shape != pixel_values.shape:
        raise ValueError(
            f"MIR loss needs the reconstruction and the image to have the same shape, got "
            f"{tuple(reconstruction.shape)} and {tuple(pixel_values.shape)}."
        )
    # MVLT eq. 5: smooth-L1 (beta = 1) over all pixels, not only the masked ones (in float32 under bf16/fp16)
    return F.smooth_l1_loss(reconstruction.float(), pixel_values.float(), beta=1.0)


def mvlt_itm_loss(itm_logits: torch.Tensor, itm_labels: torch.Tensor) -> torch.Tensor:
    """Image-text matching loss of MVLT (eq. 6): two-class cross-entropy, averaged over the batch.

    With a softmax over the two logits this equals the binary cross-entropy of eq. 6 on p_match.

    Args:
        itm_logits: `(batch, 2)` logits of (not matching, matching).
        itm_labels: `(batch,)` long, 1 for a matching image-text pair and 0 for a negative pair.
    """
    # MVLT eq. 6: -[y log p + (1 - y) log(1 - p)] with p = softmax(logits)[:, 1]
    return F.cross_entropy(itm_logits.float(), itm_labels.long().view(-1))


def mvlt_mlm_loss(mlm_logits: torch.Tensor, mlm_labels: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Masked language modelling loss of MVLT (eq. 7): cross-entropy over the masked tokens only.

    Args:
        mlm_logits: `(batch, length, vocab_size)` token logits.
        mlm_labels: `(batch, length)` long, the original token id at masked positions and `ignore_index`
            (-100) elsewhere.

    Returns:
        Scalar mean of -log p(original token) over the masked positions; 0 (still attached to the graph) when no
        position is masked, instead of the NaN that an empty mean would give.
    """
    labels = mlm_labels.long().reshape(-1)
    logits = mlm_logits.float().reshape(-1, mlm_logits.shape[-1])
    if not bool((labels != ignore_index).any()):
        return logits.sum() * 0.0
    # MVLT eq. 7: -E[log p_MLM] over the masked tokens
    return F.cross_entropy(logits, labels, ignore_index=ignore_index)


def mvlt_pretraining_loss(
    mir_loss: torch.Tensor | None,
    itm_loss: torch.Tensor | None,
    mlm_loss: torch.Tensor | None,
    mir_weight: float = 10.0,
    itm_weight: float = 1.0,
    mlm_weight: float = 1.0,
    itc_loss: torch.Tensor | None = None,
    itc_weight: float = 0.0,
) -> torch.Tensor | None:
    """Total pre-training loss of MVLT (eq. 8): w1 * MIR + w2 * ITM + w3 * MLM over the parts that are given, plus
    `itc_weight` * ITC (not in the paper; see `mvlt_itc_loss`).

    Parts that are None (not computed) are left out; returns None when no part is given. Paper weights: 10, 1, 1
    (ITC 0).
    """
    # MVLT eq. 8: L_total = w1 * L_MIR + w2 * L_ITM + w3 * L_MLM (+ w_itc * L_ITC, our departure)
    parts = ((mir_loss, mir_weight), (itm_loss, itm_weight), (mlm_loss, mlm_weight), (itc_loss, itc_weight))
    weighted = [weight * loss for loss, weight in parts if loss is not None]
    if not weighted:
        return None
    return torch.stack(weighted).sum()


def mvlt_category_loss(category_logits: torch.Tensor, category_labels: torch.Tensor) -> torch.Tensor:
    """Category recognition loss of MVLT (M-CR or S-CR fine-tuning): softmax cross-entropy, batch mean.

    Args:
        category_logits: `(batch, num_categories)` logits of one head (main or sub-category).
        category_labels: `(batch,)` long category ids.
    """
    return F.cross_entropy(category_logits.float(), category_labels.long().view(-1))


class _AllGatherWithGrad(torch.autograd.Function):
    """All-gather whose backward sums each slice's gradient over the ranks and hands every rank its own slice (the
    backward of `torch.distributed.nn.functional.all_gather`). Written with the plain collectives: the deprecated
    functional all-gather left a thread behind that made a rank abort at exit ("terminate called without an active
    exception") in about half of the 2-process runs measured here."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor):
        import torch.distributed as dist

        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return tuple(parts)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor):
        import torch.distributed as dist

        stacked = torch.stack([grad.contiguous() for grad in grads])
        dist.all_reduce(stacked)
        return stacked[dist.get_rank()]


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` `(local_batch, ...)` over all ranks along dim 0, keeping the gradient path to every
    rank's slice (open_clip's `gather_with_grad`): the loss over the gathered batch then gives each rank the same
    gradients as one process with the whole batch. Without a process group (or with one rank), `tensor` itself.
    All ranks must pass the same local batch size (the Trainer's distributed sampler pads to it)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    return torch.cat(_AllGatherWithGrad.apply(tensor), dim=0)


def gather_without_grad(tensor: torch.Tensor) -> torch.Tensor:
    """`gather_with_grad` for tensors that need no gradient (labels, ids)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def mvlt_itc_loss(
    image_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    logit_scale: torch.Tensor,
    product_ids: torch.Tensor | None = None,
    valid_rows: torch.Tensor | None = None,
    gather: bool = True,
) -> torch.Tensor:
    """Image-text contrastive loss (departure from MVLT, as CLIP / ALBEF): symmetric InfoNCE over the batch.

    Row j's image and row j's caption are the positive pair; every other caption (image) of the batch is a
    negative of image (caption) j, except those of the same product, which are left out of the softmax (two
    views or two captions of one product are not negatives of each other). Under DDP the embeddings of all ranks
    are gathered with gradients (`gather_with_grad`), so the loss and the gradients equal those of one process
    that holds the whole batch.

    Args:
        image_embeds: `(batch, dim)` L2-normalised image embeddings.
        text_embeds: `(batch, dim)` L2-normalised caption embeddings; row j belongs to image j.
        logit_scale: scalar log inverse temperature t; the logits are exp(t) * cos, exp(t) clamped at 100 (CLIP).
        product_ids: `(batch,)` product id of each row; None = every row is its own product.
        valid_rows: `(batch,)` bool, rows whose image and caption really belong together (e.g. `itm_labels == 1`
            when the collator swapped some captions); the other rows are neither anchors nor candidates.
        gather: gather the negatives from all ranks when a process group is initialised.

    Returns:
        Scalar: (CE(image -> captions) + CE(caption -> images)) / 2, each averaged over the (gathered) batch.
    """
    if image_embeds.shape != text_embeds.shape or image_embeds.dim() != 2:
        raise ValueError(
            f"mvlt_itc_loss expects two (batch, dim) tensors of the same shape, got {tuple(image_embeds.shape)} and "
            f"{tuple(text_embeds.shape)}."
        )
    if product_ids is None:
        product_ids = torch.arange(image_embeds.shape[0], device=image_embeds.device)
        if gather:  # distinct ids across ranks
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                product_ids = product_ids + dist.get_rank() * image_embeds.shape[0]
    if product_ids.shape != (image_embeds.shape[0],):
        raise ValueError(f"product_ids must have shape ({image_embeds.shape[0]},), got {tuple(product_ids.shape)}.")
    if valid_rows is None:
        valid_rows = torch.ones(image_embeds.shape[0], dtype=torch.bool, device=image_embeds.device)
    if gather:
        image_embeds, text_embeds = gather_with_grad(image_embeds), gather_with_grad(text_embeds)
        product_ids, valid_rows = gather_without_grad(product_ids), gather_without_grad(valid_rows.bool())
    valid_rows = valid_rows.bool()
    scale = logit_scale.float().exp().clamp(max=100.0)
    logits = scale * image_embeds.float() @ text_embeds.float().t()  # logits[i, j] = s * cos(image i, caption j)
    excluded = product_ids[:, None] == product_ids[None, :]
    excluded.fill_diagonal_(False)  # same-product pairs other than the positive are neither positive nor negative
    excluded |= ~valid_rows[None, :] | ~valid_rows[:, None]
    excluded &= ~torch.eye(len(logits), dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(excluded, float("-inf"))
    targets = torch.arange(logits.shape[0], device=logits.device).masked_fill(~valid_rows, -100)
    if not bool(valid_rows.any()):
        return logits.diagonal().sum() * 0.0
    # symmetric InfoNCE: image -> captions (rows) and caption -> images (columns)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets)) / 2
# <<< MVLT losses

# >>> mFSR losses
def mfsr_vse_hinge_loss(
    image_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    margin: float = 0.2,
    max_violation: bool = True,
    image_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """mFSR eq. 8-9 (VSE++ semantic loss): bidirectional hinge on inner-product similarities.

    Args:
        image_embeds: `(batch, dim)` image semantic embeddings v^se (L2-normalised by the model).
        text_embeds: `(batch, dim)` caption semantic embeddings l^se; row j is the caption of image j.
        margin: alpha of eq. 9.
        max_violation: `True` keeps only the hardest negative of each query (VSE++ / eq. 8); `False` sums the
            hinge over every negative (VSE0).
        image_ids: optional `(batch,)` id of the image of each row. Rows with the same id (two captions of one
            image in the batch) are positives of each other and never count as negatives. `None`: only the
            diagonal is positive (eq. 8-9 as printed, which assumes one caption per image in the batch).

    Returns:
        Scalar: the hinge terms of both directions summed over the batch. VSE++'s code sums, and so do we;
        eq. 8 prints a 1/|B| average, which only rescales the loss (and its weight in eq. 6) by the batch size.
    """
    if image_embeds.shape != text_embeds.shape or image_embeds.dim() != 2:
        raise ValueError(
            f"mfsr_vse_hinge_loss expects two (batch, dim) tensors of the same shape, got {tuple(image_embeds.shape)} "
            f"and {tuple(text_embeds.shape)}."
        )
    scores = image_embeds @ text_embeds.t()  # scores[j, k] = <v_j, l_k>
    positives = scores.diagonal().view(-1, 1)
    # mFSR eq. 9: [v_j, l_j, l_k]_+ = max(alpha - <v_j, l_j> + <v_j, l_k>, 0): image j queries captions k
    cost_caption = (margin + scores - positives).clamp(min=0)
    # the symmetric term [l_j, v_j, v_k]_+: caption j queries images k (column j of `scores`)
    cost_image = (margin + scores - positives.t()).clamp(min=0)
    if image_ids is None:
        is_positive = torch.eye(scores.size(0), dtype=torch.bool, device=scores.device)
    else:
        if image_ids.shape != (scores.size(0),):
            raise ValueError(f"image_ids must have shape ({scores.size(0)},), got {tuple(image_ids.shape)}.")
        # Departure from eq. 8 (B \ j): another caption of image j is not a negative of image j (and vice versa).
        is_positive = image_ids.view(-1, 1) == image_ids.view(1, -1)
    cost_caption = cost_caption.masked_fill(is_positive, 0)
    cost_image = cost_image.masked_fill(is_positive, 0)
    if max_violation:
        # mFSR eq. 8: max over k in B \ j (the hardest negative)
        return cost_caption.max(dim=1).values.sum() + cost_image.max(dim=0).values.sum()
    return cost_caption.sum() + cost_image.sum()


def mfsr_modal_loss(image_modal: torch.Tensor, text_modal: torch.Tensor) -> torch.Tensor:
    """mFSR eq. 7: pull every modal vector towards its modality's batch mean, push the two means apart.

    L_mo = 1/N sum_i (||v_i^mo - mean(v^mo)||_2 + ||l_i^mo - mean(l^mo)||_2) + exp(-||mean(v^mo) - mean(l^mo)||_2)

    The printed equation has exp(-||v_i^mo - mean(v^mo)||) in the last term, which would *reward* spreading the
    image modal vectors, against the text ("let mean(v^mo) and mean(l^mo) as far away as possible"); we follow
    the text. The term does not depend on i, so inside or outside the 1/N sum is the same.

    Args:
        image_modal: `(batch, dim)` image modal parts v^mo.
        text_modal: `(batch, dim)` caption modal parts l^mo.

    Returns:
        Scalar loss.
    """
    image_mean = image_modal.mean(dim=0, keepdim=True)
    text_mean = text_modal.mean(dim=0, keepdim=True)
    spread = (image_modal - image_mean).norm(dim=1) + (text_modal - text_mean).norm(dim=1)
    separation = torch.exp(-(image_mean - text_mean).norm())
    return spread.mean() + separation


SPECIFIC_LOSS_FORMS = ("squared_cosine", "abs_cosine", "exp")


def mfsr_specific_loss(semantic: torch.Tensor, specific: torch.Tensor, form: str = "squared_cosine") -> torch.Tensor:
    """mFSR eq. 10 (one modality): decorrelate the specific part from the semantic part of each sample.

    The full L_sp of eq. 10 is `specific_loss(v_se, v_sp) + mfsr_specific_loss(l_se, l_sp)`.

    Forms (the parts are unit vectors, so sp_i^T se_i is their cosine c_i):

    - `"exp"`: 1/N sum_i exp(c_i), eq. 10 as printed. It is minimised at c_i = -1, i.e. sp = -se: the specific
      part becomes a copy of the semantic part (measured cos = -0.9996) instead of being uncorrelated with it.
    - `"squared_cosine"` (default): 1/N sum_i c_i^2, zero exactly when the parts are orthogonal and symmetric in
      the sign of c_i: the paper's stated aim ("the correlation ... as small as possible", Sec. 3.3). A departure.
    - `"abs_cosine"`: 1/N sum_i |c_i|, the same minimum with a constant pull (a subgradient at 0).

    Args:
        semantic: `(batch, dim)` semantic parts (v^se or l^se), unit norm.
        specific: `(batch, dim)` specific parts of the same samples (v^sp or l^sp), unit norm.
        form: one of `SPECIFIC_LOSS_FORMS`.

    Returns:
        Scalar loss.
    """
    if semantic.shape != specific.shape:
        raise ValueError(
            f"mfsr_specific_loss needs semantic and specific parts of the same shape, got {tuple(semantic.shape)} "
            f"and {tuple(specific.shape)}."
        )
    cosine = (semantic * specific).sum(dim=1)
    if form == "squared_cosine":
        return cosine.pow(2).mean()
    if form == "abs_cosine":
        return cosine.abs().mean()
    if form == "exp":
        return torch.exp(cosine).mean()  # mFSR eq. 10 as printed
    raise ValueError(f"mfsr_specific_loss form must be one of {SPECIFIC_LOSS_FORMS}, got {form!r}.")


def mfsr_gan_discriminator_loss(positive_logits: torch.Tensor, negative_logits: torch.Tensor) -> torch.Tensor:
    """mFSR eq. 11 / eq. 12 in non-saturating binary cross-entropy form (the minimised discriminator loss).

    eq. 11 (D1): positives = D1(real image x), negatives = D1(generated x').
    eq. 12 (D2): positives = D2([x'; x]) (generated from x, paired with x), negatives = D2([x''; x]) (generated
    from another sample of the batch, paired with x).
    E[log(1 - D(pos))] + E[log D(neg)] of the paper = BCE(D(pos), 1) + BCE(D(neg), 0) with D = sigmoid(logit).

    Args:
        positive_logits: `(batch,)` or `(batch, 1)` logits that should be classified 1.
        negative_logits: same for samples that should be classified 0.

    Returns:
        Scalar loss (sum of the two batch means).
    """
    return F.binary_cross_entropy_with_logits(
        positive_logits, torch.ones_like(positive_logits)
    ) + F.binary_cross_entropy_with_logits(negative_logits, torch.zeros_like(negative_logits))


def mfsr_gan_generator_loss(
    generated_logits: torch.Tensor, matched_pair_logits: torch.Tensor, mismatched_pair_logits: torch.Tensor
) -> torch.Tensor:
    """mFSR eq. 13 (L_img-re = L_G), non-saturating form.

    L_G = 1/2 (BCE(D1(x'), 1) + BCE(D2([x'; x]), 1) + BCE(D2([x''; x]), 0)).

    The D1 term is the usual non-saturating generator loss (-log D1(x') instead of log(1 - D1(x'))). For D2, the
    printed eq. 13 minimises log D2([x'; x]) + log(1 - D2([x''; x])), i.e. it would train G to make its image
    look *unrelated* to x, against section 3.3 (D2 is introduced "to determine whether the generated image is
    consistent with ground-truth in content"). We train G so that D2 recognises [x'; x] as a pair and [x''; x]
    as not one, which is that stated purpose.

    Args:
        generated_logits: `(batch,)` D1 logits of generated images x'.
        matched_pair_logits: `(batch,)` D2 logits of [x'; x].
        mismatched_pair_logits: `(batch,)` D2 logits of [x''; x].

    Returns:
        Scalar loss.
    """
    fooled_d1 = F.binary_cross_entropy_with_logits(generated_logits, torch.ones_like(generated_logits))
    matched = F.binary_cross_entropy_with_logits(matched_pair_logits, torch.ones_like(matched_pair_logits))
    mismatched = F.binary_cross_entropy_with_logits(mismatched_pair_logits, torch.zeros_like(mismatched_pair_logits))
    return 0.5 * (fooled_d1 + matched + mismatched)


CAPTION_LOSS_REDUCTIONS = ("token_mean", "caption_sum")


def mfsr_caption_reconstruction_loss(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100, reduction: str = "token_mean"
) -> torch.Tensor:
    """mFSR eq. 14: teacher-forced negative log-likelihood -log p(w_t | w_0:t-1) of the caption words.

    Args:
        logits: `(batch, length, vocab_size)` decoder outputs; position t predicts `labels[:, t]`.
        labels: `(batch, length)` target word ids, `ignore_index` at padding.
        ignore_index: label value that contributes nothing.
        reduction: `"token_mean"` (default): the mean over every counted word of the batch, a loss of the same
            scale as the other terms whatever the caption length. `"caption_sum"`: eq. 14 as printed, the sum over
            the words of each caption, averaged over the captions (about 16x larger on 16-word captions, which
            made its weight in eq. 6 mean something else for every data set).

    Returns:
        Scalar loss.
    """
    if reduction not in CAPTION_LOSS_REDUCTIONS:
        raise ValueError(f"mfsr_caption_reconstruction_loss reduction must be one of {CAPTION_LOSS_REDUCTIONS}, got {reduction!r}.")
    token_nll = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=ignore_index, reduction="sum"
    )
    if reduction == "caption_sum":
        return token_nll / labels.size(0)  # mFSR eq. 14 as printed
    return token_nll / (labels != ignore_index).sum().clamp(min=1)


# <<< mFSR losses

# >>> M2Fashion losses
def m2fashion_sample_unknown_label_mask(
    batch_size: int,
    num_labels: int,
    min_unknown_fraction: float = 0.25,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Choose the labels that label-mask training hides (M2Fashion Sec. 3.3, eq. 12).

    Per sample, the number of unknown labels |Y_u| is drawn uniformly from the integers in
    [ceil(min_unknown_fraction * K), K] (the paper: "a random number between 0.25K and K"), and that many labels
    are chosen uniformly at random without replacement.

    Args:
        batch_size: number of samples B.
        num_labels: number of attribute labels K.
        min_unknown_fraction: lower bound of |Y_u| / K (0.25 in the paper), in (0, 1].
        generator: optional torch generator for reproducible draws.
        device: device of the returned mask.

    Returns:
        Bool tensor `(batch_size, num_labels)`, True where the label is set unknown (input state 0).
    """
    if not 0 < min_unknown_fraction <= 1:
        raise ValueError(f"min_unknown_fraction must be in (0, 1], got {min_unknown_fraction}.")
    min_unknown = max(1, int(-(-min_unknown_fraction * num_labels // 1)))  # ceil without importing math
    num_unknown = torch.randint(min_unknown, num_labels + 1, (batch_size, 1), generator=generator)
    scores = torch.rand(batch_size, num_labels, generator=generator)
    ranks = scores.argsort(dim=1).argsort(dim=1)  # a uniformly random permutation of 0..K-1 per row
    return (ranks < num_unknown).to(device)


def m2fashion_sample_single_attribute_states(
    attribute_labels: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The state of a single-attribute query per sample: one of its positive labels known (1), the rest 0.

    Args:
        attribute_labels: `(batch, K)` ground truth in {-1, 0, 1}.
        generator: optional torch generator (on the CPU) for reproducible draws.

    Returns:
        `(batch, K)` float states with exactly one 1 per sample that has a positive label (chosen uniformly among
        its positives) and all zeros for a sample without one.
    """
    positive = attribute_labels == 1
    scores = torch.rand(attribute_labels.shape, generator=generator).to(attribute_labels.device)
    scores = scores.masked_fill(~positive, -1.0)
    chosen = scores.argmax(dim=1)
    states = torch.zeros(attribute_labels.shape, dtype=torch.float, device=attribute_labels.device)
    states[torch.arange(len(states), device=states.device), chosen] = 1.0
    return states * positive.any(dim=1, keepdim=True)


def m2fashion_masked_attribute_loss(
    attribute_logits: torch.Tensor, attribute_labels: torch.Tensor, loss_mask: torch.Tensor
) -> torch.Tensor:
    """Sigmoid binary cross-entropy on the attribute labels that were unknown in the input (M2Fashion eq. 11-12).

    Eq. 11 is the BCE between the sigmoid of the attribute logits and the binary ground truth; with label-mask
    training (eq. 12) it is taken over the unknown labels Y_u only. Labels that are not annotated (ground truth 0)
    never count. The sum of eq. 11-12 is averaged over the counted (sample, label) pairs, so the loss scale does
    not grow with K (the paper sums; the scale only changes the meaning of lambda).

    Args:
        attribute_logits: `(batch, K)` float, attribute head outputs before the sigmoid.
        attribute_labels: `(batch, K)` ground truth in {-1 (negative), 0 (not annotated), 1 (positive)}.
        loss_mask: `(batch, K)` bool, True for the labels in Y_u (unknown in the input state).

    Returns:
        Scalar tensor; 0 (connected to the graph) when no label is counted.
    """
    counted = loss_mask.bool() & (attribute_labels != 0)
    if not counted.any():
        return attribute_logits.sum() * 0.0
    targets = (attribute_labels == 1).to(attribute_logits.dtype)
    return F.binary_cross_entropy_with_logits(attribute_logits[counted], targets[counted])


def m2fashion_triplet_cosine_loss(
    anchor_embeds: torch.Tensor,
    positive_embeds: torch.Tensor,
    negative_embeds: torch.Tensor,
    margin: float = 0.2,
) -> torch.Tensor:
    """Cosine triplet ranking loss of M2Fashion (eq. 13-14), averaged over triplets.

    eq. 13 defines s(a, b) as the cosine similarity; its printed denominator ||a|| + ||b|| is a typo for the
    product ||a|| ||b|| (only the product gives a cosine). eq. 14 as printed, max(0, s(a,p) - s(a,n) + m), would
    push the positive away; following SPEC §4 we use the standard hinge max(0, m - s(a,p) + s(a,n)).

    Args:
        anchor_embeds, positive_embeds, negative_embeds: `(num_triplets, embedding_size)` float, Z of eq. 9.
        margin: the margin m.

    Returns:
        Scalar tensor, the mean hinge over the `num_triplets` (> 0) triplets.
    """
    if anchor_embeds.shape[0] == 0:
        raise ValueError("m2fashion_triplet_cosine_loss needs at least one triplet, got 0.")
    positive_similarity = F.cosine_similarity(anchor_embeds, positive_embeds, dim=-1)
    negative_similarity = F.cosine_similarity(anchor_embeds, negative_embeds, dim=-1)
    return torch.clamp(margin - positive_similarity + negative_similarity, min=0).mean()
# <<< M2Fashion losses
