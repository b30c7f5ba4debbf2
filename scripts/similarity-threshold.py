#!/usr/bin/env python3
"""How similar all-MiniLM-L6-v2 finds caller exchanges and the questions an agent asks about them:
a quick look at a model's similarities on a few hand-written exchanges. (RELEVANCE_THRESHOLD in
src/core/recall/scorer.rs is calibrated on the evaluation set in eval/recall/ instead; the README
section "How search ranks memories" says how.)

Realistic exchanges of four trades, stored as ingestion stores them, and questions labelled with
the exchange that answers them (paraphrases, keywords, Spanish) or with None when the caller never
said it. Prints the similarity of each question with its answer, with the best other exchange,
and the best similarity of never-said questions, then what each threshold keeps.

Uses the BERT forward pass of scripts/reference-embeddings.py (numpy, safetensors, tokenizers):

    scripts/similarity-threshold.py MODEL_FOLDER
"""
import os, sys
import numpy as np

model = sys.argv[1]
reference = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference-embeddings.py")
source = open(reference).read().split("for t in sys.argv[2:]:")[0]
sys.argv = [reference, model]
exec(source)

callers = {
 "dental": [
  "Agent asked: Do you have any allergies we should know about? Caller: Yes, I'm allergic to penicillin.",
  "Agent asked: How would you like us to remind you? Caller: Please text me, I can't answer calls at work.",
  "Agent asked: Which works better, 10:30 or 2:15? Caller: 2:15 works for me.",
  "Agent asked: What brings you in? Caller: My lower molar crown came loose while eating toffee.",
  "Agent asked: Who is your insurance provider? Caller: It's Delta Dental through my husband's employer.",
  "Maria Lopez called to move her cleaning to Friday the 23rd at 2:15.",
 ],
 "plumbing": [
  "Agent asked: What's going on? Caller: The kitchen sink has been leaking under the cabinet since Monday.",
  "Agent asked: Is there a gate code? Caller: Yes, it's 4412, then the second door on the left.",
  "Agent asked: Do you have pets at home? Caller: We have a big dog, he's friendly but loud.",
  "Agent asked: How would you like to pay? Caller: Just put it on the card on file.",
  "Agent said: The technician can come Thursday morning. Caller: Thursday is fine, but before 11 please.",
 ],
 "pharmacy": [
  "Agent asked: Which prescription do you need refilled? Caller: My lisinopril, the 20 milligram one.",
  "Agent asked: Will you pick it up or should we deliver? Caller: Delivery please, I don't drive anymore.",
  "Agent asked: Any side effects with the new medication? Caller: It makes me dizzy in the mornings.",
  "Agent asked: ¿Prefiere que le llamemos en español? Caller: Sí, por favor, mi inglés no es muy bueno.",
 ],
 "gym": [
  "Agent asked: Anything else? Caller: I want to cancel my membership at the end of the month.",
  "Agent asked: What are your goals? Caller: Losing weight before my wedding in June.",
  "Agent asked: Any injuries we should know about? Caller: I had knee surgery last year, so no running.",
 ],
}
questions = [
 ("dental","drug reactions?",0),("dental","any allergies",0),("dental","is she allergic to antibiotics",0),
 ("dental","how does she want to be contacted",1),("dental","preferred contact method",1),("dental","can we call her at work",1),
 ("dental","what time did she pick",2),("dental","appointment time",2),
 ("dental","what was wrong with her tooth",3),("dental","broken crown",3),
 ("dental","insurance",4),("dental","who covers her dental plan",4),
 ("dental","does she have pets",None),("dental","what car does she drive",None),("dental","billing address",None),("dental","is she pregnant",None),
 ("plumbing","what was the problem",0),("plumbing","water leak",0),("plumbing","where is the leak",0),
 ("plumbing","how do we get into the property",1),("plumbing","access code",1),
 ("plumbing","any animals in the house",2),("plumbing","dog",2),
 ("plumbing","payment method",3),("plumbing","how will he pay",3),
 ("plumbing","when can the tech come",4),
 ("plumbing","allergies",None),("plumbing","what's his email address",None),("plumbing","does he have insurance",None),
 ("pharmacy","which medicine",0),("pharmacy","what dose",0),("pharmacy","blood pressure pills",0),
 ("pharmacy","delivery or pickup",1),("pharmacy","does she drive",1),
 ("pharmacy","side effects",2),("pharmacy","does the medication cause problems",2),
 ("pharmacy","language preference",3),("pharmacy","habla español",3),("pharmacy","¿qué idioma prefiere?",3),
 ("pharmacy","does she have a dog",None),("pharmacy","wedding date",None),("pharmacy","gate code",None),
 ("gym","cancellation",0),("gym","does he want to leave the gym",0),("gym","quit membership",0),
 ("gym","fitness goals",1),("gym","when is the wedding",1),
 ("gym","injuries",2),("gym","can he run",2),("gym","knee problems",2),
 ("gym","allergies",None),("gym","what's his address",None),("gym","payment card",None),("gym","pets",None),
]
vectors = {trade: [embed(text) for text in texts] for trade, texts in callers.items()}
answers, others, never_said, first = [], [], [], 0
for trade, question, label in questions:
    asked = embed(question)
    similarities = [float(asked @ vector) for vector in vectors[trade]]
    if label is None:
        never_said.append(max(similarities))
        continue
    answers.append(similarities[label])
    others.append(max(s for i, s in enumerate(similarities) if i != label))
    first += int(np.argmax(similarities)) == label
print(f"answer ranked first by similarity alone: {first}/{len(answers)}")
for name, values in [("answer", answers), ("best other", others), ("never-said best", never_said)]:
    print(f"{name:>16}: " + " ".join(f"{v:.2f}" for v in sorted(values)))
for threshold in [0.20, 0.25, 0.28, 0.30, 0.35, 0.40]:
    reached = sum(s >= threshold for s in answers)
    empty = sum(s < threshold for s in never_said)
    print(f"threshold {threshold:.2f}: answers reached {reached}/{len(answers)}, "
          f"never-said answered empty {empty}/{len(never_said)}")
