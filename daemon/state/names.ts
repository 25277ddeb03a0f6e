// Generated names (SPEC §3.8): `<adjective>-<animal>`, with `-<n>` added for runs by the state
// machine. The random choice is made by the proposer, never inside the state machine.
import { randomInt } from 'node:crypto'

const ADJECTIVES = ['able', 'bold', 'brave', 'bright', 'calm', 'clever', 'cool', 'crisp', 'eager', 'fancy', 'fast',
  'fine', 'fresh', 'glad', 'gold', 'good', 'grand', 'great', 'happy', 'keen', 'kind', 'light', 'lucky', 'mild', 'neat',
  'nice', 'noble', 'proud', 'quick', 'quiet', 'rapid', 'rare', 'shiny', 'silent', 'smart', 'smooth', 'soft', 'solid',
  'swift', 'tall', 'tidy', 'warm', 'wet', 'wild', 'wise', 'witty', 'young', 'zesty']

const ANIMALS = ['ant', 'bat', 'bear', 'bee', 'bison', 'cat', 'cobra', 'crab', 'crane', 'crow', 'deer', 'dingo', 'dog',
  'dove', 'duck', 'eagle', 'eel', 'elk', 'falcon', 'ferret', 'fox', 'frog', 'gecko', 'goat', 'goose', 'hawk', 'heron',
  'horse', 'ibis', 'koala', 'lemur', 'lion', 'lynx', 'mangust', 'mole', 'moose', 'moth', 'newt', 'otter', 'owl', 'panda',
  'puma', 'quail', 'rabbit', 'raven', 'seal', 'shark', 'sloth', 'snail', 'swan', 'tiger', 'toad', 'wolf', 'yak', 'zebra']

export function randomNameBase (): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${ANIMALS[randomInt(ANIMALS.length)]}`
}
