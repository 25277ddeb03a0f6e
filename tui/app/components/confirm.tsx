// A yes/no question on one line inside a screen's box. The screen's own key handler passes keys
// to `confirmKey` first while a question is open: y answers yes; n, esc or enter no.
import { Text, type Key } from 'ink'
import { useState, type ReactElement } from 'react'
import { fit } from './table.tsx'

export interface Question { text: string, onYes: () => void }

export interface Confirming {
  question: Question | null
  ask (text: string, onYes: () => void): void
  /** Handles the key while a question is open (true: the key was taken). */
  confirmKey (input: string, key: Key): boolean
}

export function useConfirm (): Confirming {
  const [question, setQuestion] = useState<Question | null>(null)
  return {
    question,
    ask: (text, onYes) => setQuestion({ text, onYes }),
    confirmKey (input, key) {
      if (question === null) return false
      if (input === 'y' || input === 'Y') { setQuestion(null); question.onYes() } else if (input === 'n' || input === 'N' || key.escape || key.return) setQuestion(null)
      return true
    }
  }
}

export function Confirm ({ question, width }: { question: Question, width: number }): ReactElement {
  return <Text color='red' bold wrap='truncate'>{fit(`${question.text} [y/n]`, width)}</Text>
}
