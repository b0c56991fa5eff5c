"""dreamer_lite: DreamerV2 in TensorFlow + TFP, one module per chapter of *Cars Do Dream*.

Chapters and modules, in the order the book builds them:
  1 environment    highway-fast-v0 as grayscale frames
  2 networks       encoder, decoder, MLP heads
  3 distributions  straight-through one-hot categoricals
  4 rssm           the recurrent state-space model
  5 kl             KL balancing and free nats
  6 replay, world_model   collected data and the world model's losses
  7 returns        lambda-returns
  8 actor_critic   learning to act in imagination
  9 agent, train, evaluate, plots   the full run
"""

__version__ = "0.1.0"
